"""The on-disk cache of built road networks: three parquet files per network.

Reading a county extract takes minutes; reading its cache about a second. An entry is keyed by
the source file's SHA-256, the build options, the speed table and
:data:`geodata.network.NETWORK_CACHE_VERSION`, so a changed file, option or code version is a
different entry (old entries are simply not read again). Files are written atomically, nodes
last, so an interrupted write leaves no entry that looks complete; an unreadable or
inconsistent entry is ignored (with a log line) and rebuilt.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from geodata.network import NETWORK_CACHE_VERSION, RoadNetwork, SpeedModel
from geodata.place_names import PlaceNames
from geodata.road_edges import RoadEdges

logger = logging.getLogger(__name__)


def cache_key(source_hash: str, simplify: bool, speeds: SpeedModel) -> str:
    parts = (NETWORK_CACHE_VERSION, source_hash, f"simplify={simplify}", speeds.cache_token())
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _cache_paths(cache_dir: Path, key: str) -> tuple[Path, Path, Path]:
    """Nodes, routing edges and road shapes. The nodes file, written last, marks a complete
    entry."""
    stem = cache_dir / f"network-{key}"
    return (
        stem.with_name(f"{stem.name}.nodes.parquet"),
        stem.with_name(f"{stem.name}.edges.parquet"),
        stem.with_name(f"{stem.name}.roads.parquet"),
    )


def _write_atomic(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def save_cached(network: RoadNetwork, cache_dir: Path, key: str) -> None:
    nodes_path, edges_path, roads_path = _cache_paths(cache_dir, key)
    cache_dir.mkdir(parents=True, exist_ok=True)
    graph = network.seconds
    tails = np.repeat(np.arange(network.n_nodes, dtype=np.int32), np.diff(graph.indptr))
    edges = pa.table(
        {
            "u": pa.array(tails),
            "v": pa.array(graph.indices.astype(np.int32)),
            "seconds": pa.array(graph.data.astype(np.float64)),
        }
    )
    residential = np.zeros(network.n_nodes, dtype=bool)
    residential[network.residential_nodes] = True
    nodes = pa.table(
        {
            "osmid": pa.array(network.node_ids),
            "lon": pa.array(network.lon),
            "lat": pa.array(network.lat),
            "residential": pa.array(residential),
            "snappable": pa.array(network.snappable),
        }
    ).replace_schema_metadata(
        {
            "label": network.label,
            "fingerprint": network.fingerprint,
            "version": NETWORK_CACHE_VERSION,
            "places": (network.places or PlaceNames()).to_json(),
        }
    )
    # Edges and roads first: the nodes file, written last, marks a complete entry.
    if network.roads is not None:
        _write_atomic(network.roads.to_table(), roads_path)
    _write_atomic(edges, edges_path)
    _write_atomic(nodes, nodes_path)


def load_cached(cache_dir: Path, key: str) -> RoadNetwork | None:
    nodes_path, edges_path, roads_path = _cache_paths(cache_dir, key)
    if not (nodes_path.exists() and edges_path.exists() and roads_path.exists()):
        return None
    try:
        nodes = pq.read_table(nodes_path)
        edges = pq.read_table(edges_path)
        meta = {k.decode(): v.decode() for k, v in (nodes.schema.metadata or {}).items()}
        if meta.get("version") != NETWORK_CACHE_VERSION:
            return None
        n = nodes.num_rows
        tails = edges.column("u").to_numpy()
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(tails, minlength=n), out=indptr[1:])
        graph = sp.csr_matrix(
            (
                edges.column("seconds").to_numpy(),
                edges.column("v").to_numpy().astype(np.int32),
                indptr,
            ),
            shape=(n, n),
        )
        network = RoadNetwork._assemble(
            nodes.column("osmid").to_numpy().astype(np.int64),
            nodes.column("lon").to_numpy().astype(np.float64),
            nodes.column("lat").to_numpy().astype(np.float64),
            graph,
            np.flatnonzero(nodes.column("residential").to_numpy(zero_copy_only=False)).astype(
                np.int32
            ),
            nodes.column("snappable").to_numpy(zero_copy_only=False).astype(bool),
            meta["label"],
            RoadEdges.from_table(pq.read_table(roads_path)),
        )
    except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
        logger.warning("ignoring unreadable network cache %s: %s", nodes_path, exc)
        return None
    if network.fingerprint != meta.get("fingerprint"):
        logger.warning("ignoring network cache %s: its content does not match", nodes_path)
        return None
    try:
        places = PlaceNames.from_json(meta.get("places", "[]"))
    except ValueError as exc:  # names only label warnings: a network without them still routes
        logger.warning("ignoring the place names in network cache %s: %s", nodes_path, exc)
        places = PlaceNames()
    return replace(network, places=places)

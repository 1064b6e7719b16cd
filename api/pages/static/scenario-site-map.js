// The scenario builder's map: a click on it fills the new setting's latitude and longitude and
// marks the point. It is the only script of ours on the page (loaded with the page's nonce);
// without it the postcode box, or the latitude and longitude fields, do the same.
const svg = document.getElementById("site-map");
if (svg) {
  const latitude = document.getElementById("latitude");
  const longitude = document.getElementById("longitude");
  const postcode = document.getElementById("postcode");
  const marker = document.getElementById("site-map-choice");
  const status = document.getElementById("site-map-status");
  const number = (name) => Number(svg.getAttribute(`data-${name}`));
  svg.addEventListener("click", (event) => {
    const matrix = svg.getScreenCTM();
    if (!matrix) return;
    const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(matrix.inverse());
    const margin = number("margin");
    const lon = number("west") + (point.x - margin) / (number("squash") * number("scale"));
    const lat = number("north") - (point.y - margin) / number("scale");
    latitude.value = lat.toFixed(5);
    longitude.value = lon.toFixed(5);
    const details = latitude.closest("details");
    if (details) details.open = true;
    if (postcode) postcode.value = "";
    marker.setAttribute("cx", point.x.toFixed(1));
    marker.setAttribute("cy", point.y.toFixed(1));
    marker.setAttribute("visibility", "visible");
    status.textContent = `Point chosen on the map: latitude ${lat.toFixed(5)}, longitude ${lon.toFixed(5)}. The postcode box has been emptied so that this point is used.`;
  });
}

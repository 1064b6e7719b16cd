"""Demand forecasting for capacity planners: the EHCP population of future years.

States are primary need x setting (or kind of place) x national curriculum year, as in
witan.send; children move between states once a year, join from the general population and
leave. ``types`` holds the data every part shares; ``model`` fits and simulates, ``summary``
turns simulations into tables, ``backtest`` measures the forecast on years it has not seen,
``inputs`` and ``outputs`` read and write files.
"""

"""The site power budget: the grid meter as Home Assistant reports it, and the share of the main fuse each charger gets.

:mod:`~bmw_wallbox.site.meter` parses Home Assistant states into bounded, finite
readings (the edge); :mod:`~bmw_wallbox.site.budget` decides the shares without
I/O; :mod:`~bmw_wallbox.site.governor` adds time (reductions at once, increases
after steady headroom, failsafe when the meter cannot be seen).
"""

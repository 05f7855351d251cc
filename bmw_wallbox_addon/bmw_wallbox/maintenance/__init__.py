"""Charger maintenance: logs the charger uploads, firmware it downloads, over one-time URLs (see DOCS.md).

- :mod:`.links`: the one-time URLs (random, bound to one charger, expiring, used once);
- :mod:`.files`: receiving a file with a size cap, the folders of logs and firmware;
- :mod:`.transfer`: the HTTP(S) server on the transfer port that chargers upload to and download from;
- :mod:`.service`: GetLog and UpdateFirmware, and the files they bring.
"""

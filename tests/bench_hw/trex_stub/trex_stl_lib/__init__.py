# Test double of TRex's trex_stl_lib (see api.py); never shipped with bench/.

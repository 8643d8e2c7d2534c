"""Cost models: ``count`` (MACs, parameters), ``trace`` (the shape-level forward trace),
``hardware`` with ``hardware_layers`` and ``hardware_memory`` (systolic-array cycles, stalls and
DRAM traffic), ``spec_cost`` with ``parts`` and the parts hooks ``*_parts`` (costs from a spec
without building its network), ``latency`` with ``threads`` (measured CPU latency) and
``latency_model`` (the analytical model calibrated on measured candidates)."""

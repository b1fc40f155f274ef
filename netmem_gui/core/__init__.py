"""The Qt-free profiling core: workload, scenarios, sampler, hosts, analysis and the run record."""

int sluice_no_nvml_here;

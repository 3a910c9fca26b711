VERSION = 1  # of this package as generated code imports it; written once per output folder

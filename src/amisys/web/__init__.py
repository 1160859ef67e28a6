"""The operator console (`amisys console`): web pages and operator actions over a running simulated utility."""

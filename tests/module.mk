# Cross-module tests (integration, system, fuzz) register here.

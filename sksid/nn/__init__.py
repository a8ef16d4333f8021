"""Torch modules only (no estimators): backbone, SASRec, codebooks, ADC-SID, RAN, IntRR, TIGER."""

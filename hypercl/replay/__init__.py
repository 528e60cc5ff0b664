"""Generative replay: a conditional VAE whose decoder weights a hypernetwork generates
(HNET+TIR, HNET+R) or that keeps its own (DGR), and its per-task training."""

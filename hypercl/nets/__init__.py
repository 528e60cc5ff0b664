"""Networks: hypernetworks (full, chunked), the functional target networks whose weights
they generate (MLP, ZenkeNet, ResNet-32), and plain modules of the same targets for the
baselines."""

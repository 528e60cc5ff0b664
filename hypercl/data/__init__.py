"""Data: continual-learning streams as in-memory tensors (Split-MNIST, Permuted-MNIST,
Split-CIFAR-10/100), their file checks, and training-batch augmentation."""

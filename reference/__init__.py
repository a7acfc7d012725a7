"""The from-scratch NumPy reference: MLP layers, losses, initialisers, optimisers (torch and Keras forms) and
learning-rate schedules, built from harness specs. Never imports torch, TensorFlow or Keras."""

"""The from-scratch NumPy reference: MLP layers, losses, initialisers and optimisers (torch and Keras forms),
built from the specs in harness.core. Never imports torch, TensorFlow or Keras."""

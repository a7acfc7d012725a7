"""The same MLP ported to Keras, with its optimiser, built with the library's defaults (see `fwcompare port` in the
README)."""

import keras


def build():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10),
        ]
    )
    return model, keras.optimizers.Adam()

"""The Keras / TensorFlow side of the corpus of real conversions (`make zoo`), run in the zoo's TF venv
(requirements/zoo-tf.txt): builds each Keras 3 application as a source model and converts it with the
converters users run on Keras models.

  keras_side.py source MODEL OUT_DIR SAMPLES.npy   the source: MODEL.h5, inputs x.npy, reference outputs
  keras_side.py convert MODEL OUT_DIR CONVERSION     one conversion of OUT_DIR/source.h5, with record.json

Sources (weights=None; seeds recorded): Keras' random initialisation, then every BatchNormalization's
moving statistics recalibrated on natural images (one pass in training mode with momentum 0, so each
layer sees its upstream layers normalised by the same statistics), then the classifier scaled so that
its logits have a standard deviation of 2 on those images (random logits are otherwise near-equal and
every ranking is a tie). The top is left without softmax: logits carry the error a conversion makes.

Reference outputs written next to the source, over the corpus' natural samples:
  ref_fp32.npy   Keras (TensorFlow) in float32, as the model is
  ref_fp64.npy   the same weights in a float64 clone: the oracle for float32 noise
  sim_<precision>.npy  the source with the quantization a conversion intends applied by simulation, in
                 float32 (quantize_sim.py): the budget of an intended-precision conversion
"""
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zoo_common  # noqa: E402

# Keras application -> (constructor name, module for preprocess_input, input size, seed)
MODELS = {
    "keras_mobilenet_v2": ("MobileNetV2", "mobilenet_v2", 224, 101),
    "keras_resnet50": ("ResNet50", "resnet50", 224, 102),
    "keras_efficientnet_b0": ("EfficientNetB0", "efficientnet", 224, 103),
    "keras_inception_v3": ("InceptionV3", "inception_v3", 299, 104),
    "keras_densenet121": ("DenseNet121", "densenet", 224, 105),
    "keras_nasnet_mobile": ("NASNetMobile", "nasnet", 224, 106),
    "keras_convnext_tiny": ("ConvNeXtTiny", "convnext", 224, 107),
    "keras_mobilenet_v3_small": ("MobileNetV3Small", "mobilenet_v3", 224, 108),
}

# A small source for the slice of the corpus that `make test` runs (tests/zoo_slice_test.sh): the same
# application at 96x96, so that every converter and runtime is exercised in a few minutes.
TEST_MODELS = {"keras_mobilenet_v2_96": ("MobileNetV2", "mobilenet_v2", 96, 109)}
MODELS_ALL = {**MODELS, **TEST_MODELS}

# conversion name -> (converter label, mode): every mode users pick in TFLiteConverter, tf2onnx, Keras' export.
CONVERSIONS = {
    "tflite_fp32": ("TFLiteConverter", "float32"),
    "tflite_fp16": ("TFLiteConverter", "float16 weights"),
    "tflite_dynamic": ("TFLiteConverter", "dynamic-range int8"),
    "tflite_int8": ("TFLiteConverter", "full int8 (float I/O)"),
    "tflite_16x8": ("TFLiteConverter", "16x8"),
    "tf2onnx_opset13": ("tf2onnx", "opset 13"),
    "tf2onnx_opset17": ("tf2onnx", "opset 17"),
    "keras_onnx": ("Keras export(format='onnx')", "default"),
}


def keras_modules():
    import keras
    import tensorflow as tf
    return keras, tf


def natural_inputs(model_name, samples_file):
    """The corpus' natural RGB samples (N, H, W, 3) in [0, 255], resized to the model's input size and
    put through the application's own preprocess_input: what the model expects."""
    keras, tf = keras_modules()
    ctor, module, size, _ = MODELS_ALL[model_name]
    raw = np.load(samples_file).astype(np.float32)
    resized = tf.image.resize(raw, (size, size), method="bilinear", antialias=True).numpy()
    pre = getattr(keras.applications, module).preprocess_input
    return np.ascontiguousarray(pre(resized.copy()).astype(np.float32))


def build(model_name, floatx="float32"):
    keras, _ = keras_modules()
    ctor, _, size, seed = MODELS_ALL[model_name]
    keras.config.set_floatx(floatx)
    keras.config.set_dtype_policy(floatx)  # layers take their dtype from the policy, not from floatx
    keras.utils.set_random_seed(seed)
    kwargs = dict(weights=None, input_shape=(size, size, 3), classifier_activation=None)
    if ctor.startswith("MobileNetV3"):
        kwargs["include_preprocessing"] = False
    try:
        model = getattr(keras.applications, ctor)(**kwargs)
    finally:
        keras.config.set_floatx("float32")
        keras.config.set_dtype_policy("float32")
    return model


def recalibrate(model, x):
    """BatchNorm moving statistics := the statistics of natural images; logits scaled to std 2."""
    keras, tf = keras_modules()
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    for bn in bns:
        bn.momentum = 0.0
    model(tf.constant(x), training=True)
    logits = model.predict(x, verbose=0, batch_size=16)
    dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)][-1]
    kernel, bias = dense.get_weights()
    centre = logits - logits.mean(axis=1, keepdims=True)
    scale = 2.0 / max(float(centre.std()), 1e-12)
    dense.set_weights([kernel * scale, np.zeros_like(bias)])
    return {"batchnorm_layers": len(bns), "classifier_scale": scale}


def run_float64(model_name, model, x):
    """The same weights in a float64 build of the architecture (the constructor under floatx float64
    makes every layer float64; weights come in the same order)."""
    model64 = build(model_name, floatx="float64")
    model64.set_weights([w.astype(np.float64) for w in model.get_weights()])
    return model64.predict(x.astype(np.float64), verbose=0, batch_size=8)


def make_source(model_name, out_dir, samples_file):
    import quantize_sim
    os.makedirs(out_dir, exist_ok=True)
    x = natural_inputs(model_name, samples_file)
    t0 = time.time()
    model = build(model_name)
    calibration = recalibrate(model, x)
    model.save(os.path.join(out_dir, "source.h5"))
    np.save(os.path.join(out_dir, "x.npy"), x)
    ref32 = model.predict(x, verbose=0, batch_size=16)
    np.save(os.path.join(out_dir, "ref_fp32.npy"), ref32)
    np.save(os.path.join(out_dir, "ref_fp64.npy"), run_float64(model_name, model, x))
    for precision in quantize_sim.PRECISIONS:
        np.save(os.path.join(out_dir, f"sim_{precision}.npy"), quantize_sim.simulate(model, x, precision))
    ctor, module, size, seed = MODELS_ALL[model_name]
    info = {"model": model_name, "keras_application": ctor, "input": [size, size, 3], "preprocess": module,
            "seed": seed, "samples": int(x.shape[0]), "params": int(model.count_params()), **calibration,
            "source_file": "source.h5",
            "seconds": round(time.time() - t0, 1), "versions": versions()}
    json.dump(info, open(os.path.join(out_dir, "source.json"), "w"), indent=1)


def versions():
    keras, tf = keras_modules()
    v = {"tensorflow": tf.__version__, "keras": keras.__version__}
    try:
        import tf2onnx
        v["tf2onnx"] = tf2onnx.__version__
    except ImportError:
        pass
    return v


def representative(x):
    def gen():
        for i in range(min(len(x), 64)):
            yield [x[i:i + 1]]
    return gen


def tflite_convert(model, mode, x):
    keras, tf = keras_modules()
    c = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "tflite_fp16":
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.target_spec.supported_types = [tf.float16]
    elif mode == "tflite_dynamic":
        c.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode == "tflite_int8":
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = representative(x)
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif mode == "tflite_16x8":
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = representative(x)
        c.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    return c.convert()


def convert(model_name, out_dir, conversion):
    """One conversion of OUT_DIR/source.h5 into OUT_DIR/CONVERSION/target.(tflite|onnx), with record.json."""
    label, mode = CONVERSIONS[conversion]
    zoo_common.record_conversion(model_name, out_dir, conversion, label, mode, versions(),
                                 lambda conv_dir: convert_into(out_dir, conversion, conv_dir))


def convert_into(out_dir, conversion, conv_dir):
    """Runs the converter; the target's file name."""
    keras, tf = keras_modules()
    model = keras.models.load_model(os.path.join(out_dir, "source.h5"), compile=False)
    x = np.load(os.path.join(out_dir, "x.npy"))
    if conversion.startswith("tflite_"):
        open(os.path.join(conv_dir, "target.tflite"), "wb").write(tflite_convert(model, conversion, x))
        return "target.tflite"
    target = os.path.join(conv_dir, "target.onnx")
    if conversion.startswith("tf2onnx_"):
        import tf2onnx
        spec = (tf.TensorSpec((None,) + tuple(model.input_shape[1:]), tf.float32, name="input"),)

        @tf.function(input_signature=spec)
        def serve(t):
            return model(t, training=False)
        tf2onnx.convert.from_function(serve, input_signature=spec, opset=int(conversion.split("opset")[1]), output_path=target)
    else:
        model(x[:1])  # Keras exports only a model that has been called ("has never called")
        model.export(target, format="onnx", verbose=False)
    return "target.onnx"


if __name__ == "__main__":
    # Converters print pages of progress on stdout; the orchestrator keeps it in a log.
    zoo_common.main("keras_side", MODELS_ALL, make_source, convert)

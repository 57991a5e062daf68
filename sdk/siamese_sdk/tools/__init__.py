"""Tools around a bundle: ``files`` (the one image walker), ``imagefolder`` (labelled class-per-folder sets),
``stream`` (embedding any number of files to disk), ``bench`` (on-device measurements) and ``doctor`` (machine
checks). Nothing is imported here: ``tools.files`` stays light, ``tools.bench`` loads onnxruntime."""

# A packaged model carries part of dlnet's source (see dlnet.tracking_model) and MLflow puts it
# first on sys.path when it loads the model: extend_path lets the rest of an installed dlnet
# still be found beside it.
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

"""Datasets; importing this package registers them."""
from ._base import Dataset, parse_size
from ._gaussian import GaussianField
from ._gmm import GaussianMixture
from ._cartoon import Cartoon
from ._disks import Disks
from ._natural import Natural
from ._folder import Folder
from ._phi4 import Phi4

__all__ = ["Cartoon", "Dataset", "Disks", "Folder", "GaussianField", "GaussianMixture", "Natural", "Phi4", "parse_size"]

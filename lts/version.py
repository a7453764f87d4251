"""The version of this source tree, in a module of its own.

Code at any layer (the health check, the navigation footer, plugin interface checks)
reads it from here: importing it from ``lts`` itself would import the application
factory, and through it every blueprint, from below.
"""

__version__ = "0.1.0"

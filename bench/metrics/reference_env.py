"""Load the reference implementations as installed by venv.sh, with one adaptation.

The JavaScript grammar wheel 0.23.1 (the version crucible-syntax pins; every 0.21 wheel's Rust
crate conflicts with the workspace's build dependencies) hands py-tree-sitter 0.22 a capsule
where it wants an integer pointer, so `codebleu` cannot load it as is. The capsule's pointer is
passed instead; the grammar itself is unchanged. Import this module before calling codebleu.
"""

import ctypes

import tree_sitter_javascript

_capsule = tree_sitter_javascript.language()
ctypes.pythonapi.PyCapsule_GetPointer.restype = ctypes.c_void_p
ctypes.pythonapi.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_pointer = ctypes.pythonapi.PyCapsule_GetPointer(_capsule, b"tree_sitter.Language")
tree_sitter_javascript.language = lambda: _pointer

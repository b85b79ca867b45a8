import os


def list_python_files(root):
    """Return the paths of the .py files under root."""
    result = []
    for dirpath, dirnames, filenames in os.walk(root):
        
    return result

"""Django's MySQL backend (MySQL and MariaDB), with the insert compiler of compiler.py."""
from django.db.backends.mysql import base, operations


class DatabaseOperations(operations.DatabaseOperations):
    compiler_module = "tigle_project.mysql_backend.compiler"


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

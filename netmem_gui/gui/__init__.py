"""The desktop app (PySide6, qasync, pyqtgraph); Qt lives only in this package, never in `netmem_gui.core`."""

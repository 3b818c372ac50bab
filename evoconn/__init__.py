"""evoconn: an FPGA co-design stack for recurrent spiking networks trained by Evolving Connectivity.

The hub package holds what every part shares and what the board can import: the integer spec
(:mod:`evoconn.spec`), manifests and artifacts, and the CLI. It needs numpy alone.
"""

__version__ = "0.1.0"

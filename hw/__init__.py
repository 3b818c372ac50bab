"""evoconn.hw: the Amaranth RSNN core, its AXI4-Lite target and the Verilog export.

- :mod:`evoconn.hw.core`: :class:`~evoconn.hw.core.EvoconnCore`, sized from an
  :class:`evoconn.spec.Spec` and ``lanes``; bit-exact with :func:`evoconn.spec.oracle_env_step`
  and timed exactly as :class:`evoconn.spec.CycleModel` says.
- :mod:`evoconn.hw.axil`: the AXI4-Lite target (independent AW/W/B/AR/R channels), proved with
  SymbiYosys by :mod:`evoconn.hw.formal` (``evoconn hw formal``).
- the core's units, one component per module, composed by :mod:`evoconn.hw.core`:
  :mod:`evoconn.hw.regfile` (the register file), :mod:`evoconn.hw.decode` (address decode, from
  the protocol's regions), :mod:`evoconn.hw.memories` (the mask and state memories),
  :mod:`evoconn.hw.controller` (the FSM), :mod:`evoconn.hw.accum` (the accumulator array),
  :mod:`evoconn.hw.lif` (the LIF pipeline), :mod:`evoconn.hw.spikes` (the spike search),
  :mod:`evoconn.hw.output` (the output accumulator); each keeps its own deliberate faults, which
  :data:`evoconn.hw.core.FAULTS` gathers. :mod:`evoconn.hw.arith` holds the spec's arithmetic as
  Amaranth expressions.
- :mod:`evoconn.hw.export`, :mod:`evoconn.hw.cli`: ``evoconn hw verilog --out build/core.v``.
- :mod:`evoconn.hw.synth`, :mod:`evoconn.hw.ecp5`, :mod:`evoconn.hw.vivado`, :mod:`evoconn.hw.timing`:
  the synthesis, bitstream and out-of-context timing flows (``evoconn hw synth|bitstream|timing``).

The exported Verilog is one flat top module, ``evoconn_core`` (the units flattened into it), with ports ``clk``, ``rst``
(synchronous, active high) and the AXI4-Lite target ``s_axil_awaddr``, ``s_axil_awvalid``,
``s_axil_awready``, ``s_axil_wdata``, ``s_axil_wstrb``, ``s_axil_wvalid``, ``s_axil_wready``,
``s_axil_bresp``, ``s_axil_bvalid``, ``s_axil_bready``, ``s_axil_araddr``, ``s_axil_arvalid``,
``s_axil_arready``, ``s_axil_rdata``, ``s_axil_rresp``, ``s_axil_rvalid``, ``s_axil_rready``
(addresses are ``RegisterMap.addr_width`` bits wide, data 32 bits). cocotbext-axi attaches with
``AxiLiteBus.from_prefix(dut, "s_axil")``.
"""

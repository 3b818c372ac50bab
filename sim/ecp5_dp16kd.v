// DP16KD, the ECP5 block RAM (sysMEM EBR, 18 kbit), as a behavioural model for the gate-level
// simulation of the synth_ecp5 netlist (evoconn.sim.gate).
//
// Yosys ships DP16KD as a blackbox only (share/ecp5/cells_sim.v has its ports and parameters, no
// behaviour), so this body is ours, written from Lattice FPGA-TN-02204 (ECP5 and ECP5-5G Memory
// Usage Guide): ports, address and byte-enable pins per width, write modes, chip-select decode,
// output reset, and the INITVAL layout (16 words of 18 bits a 320-bit parameter, each word in a
// 20-bit slot). The pin conventions of the x36 (PDPW16KD) mode agree with Yosys's own mapping
// (share/lattice/brams_map_16kd.v: DI[17:0] on DIA, DI[35:18] on DIB, DO likewise on DOA/DOB, byte
// enables on ADA[3:0]). A belief shared by that mapping and this model is not tested here; a
// board is the only check of it.
//
// Modelled, and nothing else (anything else stops the simulation at time 0): the x36 pseudo dual
// port mode (PDPW16KD) that synth_ecp5 maps a memory wider than 18 bits to, DATA_WIDTH_A =
// DATA_WIDTH_B = 36, 512 x 36: port A writes (address ADA[13:5], byte enables ADA[3:0] over
// {DIB, DIA} in 9-bit bytes, WEA), port B reads (address ADB[13:5]) onto {DOB, DOA}; REGMODE NOREG
// (the output is the read register, loaded at port B's clock edge when CEB and its chip select
// match); CLKxMUX "CLKx" or "INV"; CSDECODE "0bXYZ" against CS[2:0]; RESETMODE SYNC (RSTB zeroes
// the output at the edge) or ASYNC (at once); INITVAL_00..3F. And the x18 true dual port mode that
// synth_ecp5 maps the rho memory (12 bits wide) to, DATA_WIDTH_A = DATA_WIDTH_B = 18, 1024 x 18, as
// Yosys's brams_map_16kd.v drives it: word address ADx[13:4], byte enables ADx[1:0] over DIx in
// 9-bit bytes, WEx; each port reads its word onto DOx at its clock edge when not writing, and while
// writing per WRITEMODE_x: NORMAL (DOx unchanged), WRITETHROUGH (the new word) or READBEFOREWRITE
// (the old word). Port B writing in x18 mode is not modelled (the core's netlists have none: WEB is
// tied low). The x1..x9 modes are not modelled either.
// A read of bits that port A writes on the same clock edge reads X (the guide: undefined), so a
// netlist that depends on such a collision cannot pass by luck. GSR, ASYNC_RESET_RELEASE (the timing
// of the reset's release), INIT_DATA, WID and WRITEMODE (a port's own read during its write; in x36
// mode no port does both) have no effect here; OCEA/OCEB gate the optional output register only,
// which NOREG does not have.
`timescale 1ns / 1ps
module DP16KD(
  input DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0,
  input ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0,
  input CEA, OCEA, CLKA, WEA, RSTA,
  input CSA2, CSA1, CSA0,
  output DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0,

  input DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0,
  input ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0,
  input CEB, OCEB, CLKB, WEB, RSTB,
  input CSB2, CSB1, CSB0,
  output DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0
);
  parameter DATA_WIDTH_A = 18;
  parameter DATA_WIDTH_B = 18;
  parameter REGMODE_A = "NOREG";
  parameter REGMODE_B = "NOREG";
  parameter RESETMODE = "SYNC";
  parameter ASYNC_RESET_RELEASE = "SYNC";
  parameter CSDECODE_A = "0b000";
  parameter CSDECODE_B = "0b000";
  parameter WRITEMODE_A = "NORMAL";
  parameter WRITEMODE_B = "NORMAL";
  parameter CLKAMUX = "CLKA";
  parameter CLKBMUX = "CLKB";
  parameter WID = 0;
  parameter GSR = "ENABLED";
  parameter INIT_DATA = "STATIC";
  parameter [319:0] INITVAL_00 = 320'h0, INITVAL_01 = 320'h0, INITVAL_02 = 320'h0, INITVAL_03 = 320'h0;
  parameter [319:0] INITVAL_04 = 320'h0, INITVAL_05 = 320'h0, INITVAL_06 = 320'h0, INITVAL_07 = 320'h0;
  parameter [319:0] INITVAL_08 = 320'h0, INITVAL_09 = 320'h0, INITVAL_0A = 320'h0, INITVAL_0B = 320'h0;
  parameter [319:0] INITVAL_0C = 320'h0, INITVAL_0D = 320'h0, INITVAL_0E = 320'h0, INITVAL_0F = 320'h0;
  parameter [319:0] INITVAL_10 = 320'h0, INITVAL_11 = 320'h0, INITVAL_12 = 320'h0, INITVAL_13 = 320'h0;
  parameter [319:0] INITVAL_14 = 320'h0, INITVAL_15 = 320'h0, INITVAL_16 = 320'h0, INITVAL_17 = 320'h0;
  parameter [319:0] INITVAL_18 = 320'h0, INITVAL_19 = 320'h0, INITVAL_1A = 320'h0, INITVAL_1B = 320'h0;
  parameter [319:0] INITVAL_1C = 320'h0, INITVAL_1D = 320'h0, INITVAL_1E = 320'h0, INITVAL_1F = 320'h0;
  parameter [319:0] INITVAL_20 = 320'h0, INITVAL_21 = 320'h0, INITVAL_22 = 320'h0, INITVAL_23 = 320'h0;
  parameter [319:0] INITVAL_24 = 320'h0, INITVAL_25 = 320'h0, INITVAL_26 = 320'h0, INITVAL_27 = 320'h0;
  parameter [319:0] INITVAL_28 = 320'h0, INITVAL_29 = 320'h0, INITVAL_2A = 320'h0, INITVAL_2B = 320'h0;
  parameter [319:0] INITVAL_2C = 320'h0, INITVAL_2D = 320'h0, INITVAL_2E = 320'h0, INITVAL_2F = 320'h0;
  parameter [319:0] INITVAL_30 = 320'h0, INITVAL_31 = 320'h0, INITVAL_32 = 320'h0, INITVAL_33 = 320'h0;
  parameter [319:0] INITVAL_34 = 320'h0, INITVAL_35 = 320'h0, INITVAL_36 = 320'h0, INITVAL_37 = 320'h0;
  parameter [319:0] INITVAL_38 = 320'h0, INITVAL_39 = 320'h0, INITVAL_3A = 320'h0, INITVAL_3B = 320'h0;
  parameter [319:0] INITVAL_3C = 320'h0, INITVAL_3D = 320'h0, INITVAL_3E = 320'h0, INITVAL_3F = 320'h0;

  localparam [20479:0] INIT_ALL = {
    INITVAL_3F, INITVAL_3E, INITVAL_3D, INITVAL_3C, INITVAL_3B, INITVAL_3A, INITVAL_39, INITVAL_38,
    INITVAL_37, INITVAL_36, INITVAL_35, INITVAL_34, INITVAL_33, INITVAL_32, INITVAL_31, INITVAL_30,
    INITVAL_2F, INITVAL_2E, INITVAL_2D, INITVAL_2C, INITVAL_2B, INITVAL_2A, INITVAL_29, INITVAL_28,
    INITVAL_27, INITVAL_26, INITVAL_25, INITVAL_24, INITVAL_23, INITVAL_22, INITVAL_21, INITVAL_20,
    INITVAL_1F, INITVAL_1E, INITVAL_1D, INITVAL_1C, INITVAL_1B, INITVAL_1A, INITVAL_19, INITVAL_18,
    INITVAL_17, INITVAL_16, INITVAL_15, INITVAL_14, INITVAL_13, INITVAL_12, INITVAL_11, INITVAL_10,
    INITVAL_0F, INITVAL_0E, INITVAL_0D, INITVAL_0C, INITVAL_0B, INITVAL_0A, INITVAL_09, INITVAL_08,
    INITVAL_07, INITVAL_06, INITVAL_05, INITVAL_04, INITVAL_03, INITVAL_02, INITVAL_01, INITVAL_00};

  wire [17:0] dia = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4,
                     DIA3, DIA2, DIA1, DIA0};
  wire [17:0] dib = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4,
                     DIB3, DIB2, DIB1, DIB0};
  wire [13:0] ada = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0};
  wire [13:0] adb = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0};
  reg [17:0] doa, dob;
  assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2,
          DOA1, DOA0} = doa;
  assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2,
          DOB1, DOB0} = dob;

  // the chip select a port answers to: "0bXYZ" is CS2 CS1 CS0 (the string's last three characters)
  function [2:0] cs_of(input [39:0] s);
    cs_of = {s[16], s[8], s[0]};
  endfunction
  localparam [2:0] CS_A = cs_of(CSDECODE_A);
  localparam [2:0] CS_B = cs_of(CSDECODE_B);

  wire clka = (CLKAMUX == "INV") ? ~CLKA : CLKA;
  wire clkb = (CLKBMUX == "INV") ? ~CLKB : CLKB;
  wire ena = CEA && ({CSA2, CSA1, CSA0} == CS_A);
  wire enb = CEB && ({CSB2, CSB1, CSB0} == CS_B);

  localparam X36 = DATA_WIDTH_A == 36 && DATA_WIDTH_B == 36;
  localparam X18 = DATA_WIDTH_A == 18 && DATA_WIDTH_B == 18;

  // 1024 words of 18 bits (the INITVAL order); a 36-bit word a is {mem[2a+1], mem[2a]}
  reg [17:0] mem [0:1023];
  integer k;
  initial begin
    for (k = 0; k < 1024; k = k + 1)
      mem[k] = INIT_ALL[k * 20 +: 18];
    doa = 18'h0;
    dob = 18'h0;
    if (!X36 && !X18)
      $fatal(1, "DP16KD %m: DATA_WIDTH_A %0d / DATA_WIDTH_B %0d not modelled (36 / 36 and 18 / 18 are)",
             DATA_WIDTH_A, DATA_WIDTH_B);
    if (X18 && ((WRITEMODE_A != "NORMAL" && WRITEMODE_A != "WRITETHROUGH" && WRITEMODE_A != "READBEFOREWRITE")
                || (WRITEMODE_B != "NORMAL" && WRITEMODE_B != "WRITETHROUGH" && WRITEMODE_B != "READBEFOREWRITE")))
      $fatal(1, "DP16KD %m: WRITEMODE_A %0s / WRITEMODE_B %0s unknown", WRITEMODE_A, WRITEMODE_B);
    if (REGMODE_A != "NOREG" || REGMODE_B != "NOREG")
      $fatal(1, "DP16KD %m: REGMODE OUTREG not modelled");
    if (RESETMODE != "SYNC" && RESETMODE != "ASYNC")
      $fatal(1, "DP16KD %m: RESETMODE %0s unknown", RESETMODE);
    if ((CLKAMUX != "CLKA" && CLKAMUX != "INV") || (CLKBMUX != "CLKB" && CLKBMUX != "INV"))
      $fatal(1, "DP16KD %m: CLKAMUX %0s / CLKBMUX %0s not modelled", CLKAMUX, CLKBMUX);
  end

  // the 36-bit mask of four 9-bit bytes
  function [35:0] bytes(input [3:0] be);
    bytes = {{9{be[3]}}, {9{be[2]}}, {9{be[1]}}, {9{be[0]}}};
  endfunction
  localparam [17:0] XS = {18{1'bx}};

  // What port A wrote on its last clock edge, so that a read on the same edge finds the collision
  // whichever of the two processes runs first (NBAs to one variable take effect in the order they
  // were made: port A's X, made second, overrides port B's read).
  time a_t = 0, b_t = 0;                // when each port last acted, plus one (0: never)
  reg [9:0] a_w, b_w;                   // the even word of the pair each addressed
  reg [35:0] a_m = 36'h0;               // the bits port A wrote
  reg b_rd = 0;                         // whether port B read (its output was loaded)
  integer ia;

  always @(posedge clka) if (X36) begin
    a_t = $time + 1;
    a_m = 36'h0;
    a_w = {ada[13:5], 1'b0};
    if (ena && WEA) begin
      a_m = bytes(ada[3:0]);
      for (ia = 0; ia < 18; ia = ia + 1) begin
        if (a_m[ia]) mem[a_w][ia] <= dia[ia];
        if (a_m[18 + ia]) mem[a_w + 1][ia] <= dib[ia];
      end
      if (b_t == a_t && b_rd && b_w == a_w) begin  // port B read the pair on this edge, first
        doa <= mem[a_w] ^ (XS & a_m[17:0]);
        dob <= mem[a_w + 1] ^ (XS & a_m[35:18]);
      end
    end
  end

  always @(posedge clkb) if (X36) begin
    b_t = $time + 1;
    b_rd = 0;
    b_w = {adb[13:5], 1'b0};
    if (enb && WEB)
      $fatal(1, "DP16KD %m: WEB set in x36 (pseudo dual port) mode, where port B only reads");
    if (RSTB) begin
      doa <= 18'h0;
      dob <= 18'h0;
    end else if (enb) begin
      b_rd = 1;
      doa <= mem[b_w] ^ ((a_t == b_t && a_w == b_w) ? (XS & a_m[17:0]) : 18'h0);
      dob <= mem[b_w + 1] ^ ((a_t == b_t && a_w == b_w) ? (XS & a_m[35:18]) : 18'h0);
    end
  end

  // --- x18 true dual port: port A reads and writes, port B reads -----------------------------
  wire [9:0] a18 = ada[13:4], b18 = adb[13:4];
  wire [17:0] be18_a = {{9{ada[1]}}, {9{ada[0]}}};
  reg [17:0] new_a;
  always @(posedge clka) if (X18) begin
    a_t = $time + 1;
    a_m = 36'h0;
    a_w = a18;
    if (RSTA) doa <= 18'h0;
    if (ena && WEA) begin
      a_m[17:0] = be18_a;
      new_a = (mem[a18] & ~be18_a) | (dia & be18_a);
      mem[a18] <= new_a;
      if (!RSTA && WRITEMODE_A == "WRITETHROUGH") doa <= new_a;
      if (!RSTA && WRITEMODE_A == "READBEFOREWRITE") doa <= mem[a18];
      if (b_t == a_t && b_rd && b_w == a_w)  // port B read this word on this edge, first
        dob <= mem[a18] ^ (XS & a_m[17:0]);
    end else if (ena && !RSTA) begin
      doa <= mem[a18];
    end
  end

  always @(posedge clkb) if (X18) begin
    b_t = $time + 1;
    b_rd = 0;
    b_w = b18;
    if (enb && WEB)
      $fatal(1, "DP16KD %m: WEB set in x18 mode: port B writes are not modelled");
    if (RSTB) begin
      dob <= 18'h0;
    end else if (enb) begin
      b_rd = 1;
      dob <= mem[b18] ^ ((a_t == b_t && a_w == b_w) ? (XS & a_m[17:0]) : 18'h0);
    end
  end

  // RESETMODE ASYNC: RSTB zeroes the output at once (and, held, at every edge, above)
  always @(posedge RSTB)
    if (RESETMODE == "ASYNC") begin
      if (X36) doa <= 18'h0;  // x36: both halves are port B's output
      dob <= 18'h0;
    end
  always @(posedge RSTA)
    if (RESETMODE == "ASYNC" && X18) doa <= 18'h0;
endmodule

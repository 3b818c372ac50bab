// A directed bench of our DP16KD model (sim/ecp5_dp16kd.v) in the x18 true dual port mode that
// synth_ecp5 maps the rho memory to (port A writes and reads, port B reads; WRITEMODE_A
// READBEFOREWRITE as in the netlist), run by tests/sim/test_gate.py: each check prints "FAIL ..." if
// the model disagrees with its header (Lattice FPGA-TN-02204), and the bench ends with "DONE <checks>".
`timescale 1ns / 1ps
module dp16kd_x18_tb;
  reg clk = 0;
  always #5 clk = ~clk;

  reg [17:0] di = 0;
  reg [9:0] wa = 0, ra = 0;
  reg [1:0] be = 0;
  reg cea = 0, wea = 0, ceb = 0, rstb = 0;
  wire [17:0] doa, dob;
  integer checks = 0;

  DP16KD #(
    .DATA_WIDTH_A(18), .DATA_WIDTH_B(18), .RESETMODE("SYNC"), .WRITEMODE_A("READBEFOREWRITE"),
    .WRITEMODE_B("READBEFOREWRITE"),
    // words 0 and 1, and word 17 (slot 1 of INITVAL_01)
    .INITVAL_00(320'h00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_2bcde_11234),
    .INITVAL_01(320'h00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_3ffff_00000)
  ) dut (
    .DIA0(di[0]), .DIA1(di[1]), .DIA2(di[2]), .DIA3(di[3]), .DIA4(di[4]), .DIA5(di[5]), .DIA6(di[6]),
    .DIA7(di[7]), .DIA8(di[8]), .DIA9(di[9]), .DIA10(di[10]), .DIA11(di[11]), .DIA12(di[12]), .DIA13(di[13]),
    .DIA14(di[14]), .DIA15(di[15]), .DIA16(di[16]), .DIA17(di[17]),
    .DIB0(1'b1), .DIB1(1'b1), .DIB2(1'b1), .DIB3(1'b1), .DIB4(1'b1), .DIB5(1'b1), .DIB6(1'b1), .DIB7(1'b1),
    .DIB8(1'b1), .DIB9(1'b1), .DIB10(1'b1), .DIB11(1'b1), .DIB12(1'b1), .DIB13(1'b1), .DIB14(1'b1),
    .DIB15(1'b1), .DIB16(1'b1), .DIB17(1'b1),
    .ADA0(be[0]), .ADA1(be[1]), .ADA2(1'b1), .ADA3(1'b0), .ADA4(wa[0]), .ADA5(wa[1]), .ADA6(wa[2]),
    .ADA7(wa[3]), .ADA8(wa[4]), .ADA9(wa[5]), .ADA10(wa[6]), .ADA11(wa[7]), .ADA12(wa[8]), .ADA13(wa[9]),
    .ADB0(1'b1), .ADB1(1'b0), .ADB2(1'b1), .ADB3(1'b1), .ADB4(ra[0]), .ADB5(ra[1]), .ADB6(ra[2]),
    .ADB7(ra[3]), .ADB8(ra[4]), .ADB9(ra[5]), .ADB10(ra[6]), .ADB11(ra[7]), .ADB12(ra[8]), .ADB13(ra[9]),
    .CEA(cea), .OCEA(1'b1), .CLKA(clk), .WEA(wea), .RSTA(1'b0), .CSA2(1'b0), .CSA1(1'b0), .CSA0(1'b0),
    .CEB(ceb), .OCEB(1'b1), .CLKB(clk), .WEB(1'b0), .RSTB(rstb), .CSB2(1'b0), .CSB1(1'b0), .CSB0(1'b0),
    .DOA0(doa[0]), .DOA1(doa[1]), .DOA2(doa[2]), .DOA3(doa[3]), .DOA4(doa[4]), .DOA5(doa[5]), .DOA6(doa[6]),
    .DOA7(doa[7]), .DOA8(doa[8]), .DOA9(doa[9]), .DOA10(doa[10]), .DOA11(doa[11]), .DOA12(doa[12]),
    .DOA13(doa[13]), .DOA14(doa[14]), .DOA15(doa[15]), .DOA16(doa[16]), .DOA17(doa[17]),
    .DOB0(dob[0]), .DOB1(dob[1]), .DOB2(dob[2]), .DOB3(dob[3]), .DOB4(dob[4]), .DOB5(dob[5]), .DOB6(dob[6]),
    .DOB7(dob[7]), .DOB8(dob[8]), .DOB9(dob[9]), .DOB10(dob[10]), .DOB11(dob[11]), .DOB12(dob[12]),
    .DOB13(dob[13]), .DOB14(dob[14]), .DOB15(dob[15]), .DOB16(dob[16]), .DOB17(dob[17])
  );

  task want(input [17:0] got, input [17:0] exp, input [255:0] what);
    begin
      checks = checks + 1;
      if (got !== exp) $display("FAIL %0s: read %h, expected %h", what, got, exp);
    end
  endtask

  task tick;
    begin
      @(posedge clk);
      #1;
    end
  endtask

  initial begin
    #2;
    // INITVAL: 16 words of 18 bits in 20-bit slots, port B reads word ra (ADB[13:4])
    ceb = 1; ra = 0; tick; want(dob, 18'h11234, "init word 0");
    ra = 1; tick; want(dob, 18'h2bcde, "init word 1");
    ra = 17; tick; want(dob, 18'h3ffff, "init word 17");
    // a full write on port A (both byte enables); READBEFOREWRITE: DOA shows the old word
    ceb = 0; cea = 1; wea = 1; wa = 5; be = 2'b11; di = 18'h2a5a5; tick; want(doa, 18'h00000, "old word on DOA");
    wea = 0; tick; want(doa, 18'h2a5a5, "port A reads its word back");
    ceb = 1; ra = 5; tick; want(dob, 18'h2a5a5, "port B reads the written word");
    // byte enable 01: bits 8:0 only
    wea = 1; be = 2'b01; di = 18'h3ffff; ceb = 0; tick; wea = 0;
    ceb = 1; tick; want(dob, 18'h2a5ff, "byte 0 written, byte 1 kept");
    // CEB low holds the output while the word changes
    ceb = 0; wea = 1; be = 2'b11; di = 18'h00001; tick; wea = 0; tick; want(dob, 18'h2a5ff, "CEB low holds DOB");
    // a collision: port B reads the word port A writes (byte 1 only) on the same edge: byte 1 X
    wa = 1; ra = 1; wea = 1; be = 2'b10; di = 18'h00000; ceb = 1; tick; wea = 0;
    want(dob, {9'bxxxxxxxxx, 9'h0de}, "collision: the written byte reads X");
    tick; want(dob, 18'h000de, "after the collision the new word");
    // RSTB (SYNC) zeroes DOB at the edge
    rstb = 1; tick; want(dob, 18'h00000, "RSTB zeroes DOB"); rstb = 0;
    tick; want(dob, 18'h000de, "and the next read is the word");
    $display("DONE %0d", checks);
    $finish;
  end
endmodule

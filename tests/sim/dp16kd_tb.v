// A directed bench of our DP16KD model (sim/ecp5_dp16kd.v) in the x36 pseudo dual port mode, run
// by tests/sim/test_gate.py: each check prints "FAIL ..." if the model disagrees with what its header
// (Lattice FPGA-TN-02204) says, and the bench ends with "DONE <number of checks>".
`timescale 1ns / 1ps
module dp16kd_tb;
  reg clk = 0;
  always #5 clk = ~clk;

  reg [35:0] di = 0;
  reg [8:0] wa = 0, ra = 0;
  reg [3:0] be = 0;
  reg cea = 0, ceb = 0, rstb = 0;
  reg [2:0] csb = 3'b101;
  wire [17:0] doa, dob;
  wire [35:0] dout = {dob, doa};
  integer checks = 0;

  DP16KD #(
    .DATA_WIDTH_A(36), .DATA_WIDTH_B(36), .CSDECODE_B("0b101"), .RESETMODE("SYNC"),
    // words 0 and 1 (pair 0) and word 17 (the high half of pair 8)
    .INITVAL_00(320'h00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_2bcde_11234),
    .INITVAL_01(320'h00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_00000_3ffff_00000)
  ) dut (
    .DIA0(di[0]), .DIA1(di[1]), .DIA2(di[2]), .DIA3(di[3]), .DIA4(di[4]), .DIA5(di[5]), .DIA6(di[6]),
    .DIA7(di[7]), .DIA8(di[8]), .DIA9(di[9]), .DIA10(di[10]), .DIA11(di[11]), .DIA12(di[12]), .DIA13(di[13]),
    .DIA14(di[14]), .DIA15(di[15]), .DIA16(di[16]), .DIA17(di[17]),
    .DIB0(di[18]), .DIB1(di[19]), .DIB2(di[20]), .DIB3(di[21]), .DIB4(di[22]), .DIB5(di[23]), .DIB6(di[24]),
    .DIB7(di[25]), .DIB8(di[26]), .DIB9(di[27]), .DIB10(di[28]), .DIB11(di[29]), .DIB12(di[30]), .DIB13(di[31]),
    .DIB14(di[32]), .DIB15(di[33]), .DIB16(di[34]), .DIB17(di[35]),
    .ADA0(be[0]), .ADA1(be[1]), .ADA2(be[2]), .ADA3(be[3]), .ADA4(1'b1), .ADA5(wa[0]), .ADA6(wa[1]),
    .ADA7(wa[2]), .ADA8(wa[3]), .ADA9(wa[4]), .ADA10(wa[5]), .ADA11(wa[6]), .ADA12(wa[7]), .ADA13(wa[8]),
    .ADB0(1'b1), .ADB1(1'b0), .ADB2(1'b1), .ADB3(1'b1), .ADB4(1'b0), .ADB5(ra[0]), .ADB6(ra[1]),
    .ADB7(ra[2]), .ADB8(ra[3]), .ADB9(ra[4]), .ADB10(ra[5]), .ADB11(ra[6]), .ADB12(ra[7]), .ADB13(ra[8]),
    .CEA(cea), .OCEA(1'b0), .CLKA(clk), .WEA(1'b1), .RSTA(1'b0), .CSA2(1'b0), .CSA1(1'b0), .CSA0(1'b0),
    .CEB(ceb), .OCEB(1'b1), .CLKB(clk), .WEB(1'b0), .RSTB(rstb), .CSB2(csb[2]), .CSB1(csb[1]), .CSB0(csb[0]),
    .DOA0(doa[0]), .DOA1(doa[1]), .DOA2(doa[2]), .DOA3(doa[3]), .DOA4(doa[4]), .DOA5(doa[5]), .DOA6(doa[6]),
    .DOA7(doa[7]), .DOA8(doa[8]), .DOA9(doa[9]), .DOA10(doa[10]), .DOA11(doa[11]), .DOA12(doa[12]),
    .DOA13(doa[13]), .DOA14(doa[14]), .DOA15(doa[15]), .DOA16(doa[16]), .DOA17(doa[17]),
    .DOB0(dob[0]), .DOB1(dob[1]), .DOB2(dob[2]), .DOB3(dob[3]), .DOB4(dob[4]), .DOB5(dob[5]), .DOB6(dob[6]),
    .DOB7(dob[7]), .DOB8(dob[8]), .DOB9(dob[9]), .DOB10(dob[10]), .DOB11(dob[11]), .DOB12(dob[12]),
    .DOB13(dob[13]), .DOB14(dob[14]), .DOB15(dob[15]), .DOB16(dob[16]), .DOB17(dob[17])
  );

  task want_read(input [35:0] want, input [255:0] what);
    begin
      checks = checks + 1;
      if (dout !== want) $display("FAIL %0s: read %h, expected %h", what, dout, want);
    end
  endtask

  // one clock edge with the given port settings; the inputs change away from the edge
  task tick;
    begin
      @(posedge clk);
      #1;
    end
  endtask

  initial begin
    #2;
    // INITVAL: pair 0 is {word 1, word 0}, pair 8 {word 17, word 16}
    ceb = 1; ra = 0; tick; want_read({18'h2bcde, 18'h11234}, "INITVAL pair 0");
    ra = 8; tick; want_read({18'h3ffff, 18'h00000}, "INITVAL pair 8");
    // a full write, read back on the next edge
    ceb = 0; cea = 1; wa = 5; be = 4'b1111; di = 36'h9_8765_4321; tick;
    cea = 0; ceb = 1; ra = 5; tick; want_read(36'h9_8765_4321, "full write");
    // byte enables: bytes 0 and 2 (bits 8:0, 26:18) written, 1 and 3 kept
    ceb = 0; cea = 1; be = 4'b0101; di = 36'h0_0000_0000; tick;
    cea = 0; ceb = 1; tick; want_read(36'h9_8001_4200, "byte enables 0101");
    // CEB low: the output holds while the address changes
    ceb = 0; ra = 0; tick; want_read(36'h9_8001_4200, "CEB low holds");
    // chip select other than CSDECODE_B (0b101): holds
    ceb = 1; csb = 3'b100; tick; want_read(36'h9_8001_4200, "chip select off holds");
    csb = 3'b101; tick; want_read({18'h2bcde, 18'h11234}, "chip select on reads");
    // a read of the pair port A writes on the same edge: the written bytes read X, the others old
    ra = 5; cea = 1; wa = 5; be = 4'b0011; di = 36'hf_ffff_ffff; tick;
    want_read({18'h26000, 18'bxxxxxxxxxxxxxxxxxx}, "collision");
    cea = 0; tick; want_read(36'h9_8003_ffff, "after the collision the write is there");
    // another pair written on the same edge: no collision
    cea = 1; wa = 6; be = 4'b1111; di = 36'h1_1111_1111; tick; want_read(36'h9_8003_ffff, "no collision");
    cea = 0; ra = 6; tick; want_read(36'h1_1111_1111, "pair 6");
    // RSTB (sync): the output goes to 0 at the edge, the memory keeps its words
    rstb = 1; tick; want_read(36'h0, "sync reset");
    rstb = 0; tick; want_read(36'h1_1111_1111, "after reset");
    $display("DONE %0d", checks);
    $finish;
  end
endmodule

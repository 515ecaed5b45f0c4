/*
 * The sock_diag record the addon hands to JavaScript and renders from (RECORD_SIZE bytes, host
 * byte order): u8 protocol (6/17), u8 family (2/10), u8 state, u8 0, u16 local port, u16 remote
 * port, u32 uid, u32 inode, u8 local[16], u8 remote[16] (an IPv4 address in the first 4 bytes).
 */
#ifndef PORTWARDEN_RECORDS_H
#define PORTWARDEN_RECORDS_H

#define RECORD_SIZE 48

#endif

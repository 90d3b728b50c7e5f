// ctnetlink (conntrack over nfnetlink): table dump and batched exact deletion. JS and C exchange
// conntrack entries as fixed CT_REC-byte records; the layout is mirrored by CT in
// src/native/binding.ts (keep the two in sync). Numbers are host order, addresses network order.
#ifndef NETPOL_CTNL_H
#define NETPOL_CTNL_H

#include <stddef.h>
#include <stdint.h>

#define CT_REC 64
#define CT_OFF_FAMILY 0    // u8: 4 or 6
#define CT_OFF_PROTO 1     // u8: l4 protocol number
#define CT_OFF_STATE 2     // u8: TCP/SCTP/DCCP state (protoinfo), CT_NO_STATE when absent
#define CT_OFF_ICMP_TYPE 3 // u8
#define CT_OFF_ICMP_CODE 4 // u8
#define CT_OFF_HAS 5       // u8: CT_HAS_* bits
#define CT_OFF_ZONE 6      // u16
#define CT_OFF_SPORT 8     // u16: source port, or the ICMP id
#define CT_OFF_DPORT 10    // u16
#define CT_OFF_MARK 12     // u32
#define CT_OFF_STATUS 16   // u32: IPS_* status bits
#define CT_OFF_TIMEOUT 20  // u32: seconds left
#define CT_OFF_ID 24       // u32: the kernel's entry id
#define CT_OFF_SRC 32      // 4 or 16 bytes
#define CT_OFF_DST 48      // 4 or 16 bytes

#define CT_NO_STATE 0xff
#define CT_HAS_PORTS 1
#define CT_HAS_ICMP 2
#define CT_HAS_ZONE 4
#define CT_HAS_MARK 8
#define CT_HAS_STATUS 16

typedef struct {
  uint8_t* data; // CT_REC-byte records
  size_t count, cap;
} ct_records;

typedef struct {
  uint32_t deleted, missing, failed;
  int last_errno;  // errno of the last failed deletion (0 if none)
} ct_delete_counts;

// Both return 0, or an errno with *syscall naming what failed. Blocking; run off the JS thread.
// family: 0 (both), 4 or 6.
int ct_dump(int family, ct_records* out, const char** syscall);
int ct_delete(const uint8_t* recs, size_t count, ct_delete_counts* counts, const char** syscall);

#endif

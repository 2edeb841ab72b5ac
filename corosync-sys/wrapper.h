/*
 * The corosync headers that corosync-sys binds. build.rs defines one
 * COROSYNC_SYS_<SERVICE> macro per enabled cargo feature, so a program that
 * uses only CPG gets (and links) only libcpg.
 */
#include <corosync/corotypes.h>

#ifdef COROSYNC_SYS_CPG
#include <corosync/cpg.h>
#endif
#ifdef COROSYNC_SYS_QUORUM
#include <corosync/quorum.h>
#endif
#ifdef COROSYNC_SYS_VOTEQUORUM
#include <corosync/votequorum.h>
#endif
#ifdef COROSYNC_SYS_CMAP
#include <corosync/cmap.h>
#endif
#ifdef COROSYNC_SYS_CFG
#include <corosync/cfg.h>
#endif
#ifdef COROSYNC_SYS_SAM
#include <corosync/sam.h>
#endif

/*-------------------------------------------------------------------------
 *
 * subxact_items.h
 *	  Lists of what a transaction must do when it ends, item by item
 *	  tagged with the subtransaction that added it; running a step in a
 *	  subtransaction of its own.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PULSAR_SUBXACT_ITEMS_H
#define PULSAR_SUBXACT_ITEMS_H

#include "nodes/pg_list.h"
#include "utils/elog.h"

/*
 * The first member of every item of such a list: the nest level of the
 * (sub)transaction the item belongs to.
 */
typedef struct SubxactItem
{
	int			nest_level;
} SubxactItem;

extern void *subxact_item_append(List **items, Size size);
extern void subxact_items_to_parent(List *items);
extern List *subxact_items_take_aborted(List **items);
extern ErrorData *subxact_run(void (*body) (void *), void *arg);

#endif							/* PULSAR_SUBXACT_ITEMS_H */

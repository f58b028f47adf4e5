/*-------------------------------------------------------------------------
 *
 * subxact_items.c
 *	  Lists of what a transaction must do when it ends, item by item
 *	  tagged with the subtransaction that added it; running a step in a
 *	  subtransaction of its own.
 *
 * Several files keep per-transaction lists (rewinds of dispatch state,
 * shared-memory entries to forget at commit or abort, runs received).
 * Their transaction callbacks apply or drop the whole list when the
 * top-level transaction ends; a subtransaction's end touches only its own
 * items: at its commit they pass to its parent, at its abort they are
 * taken out for the caller to undo or drop.  Items are allocated in
 * TopTransactionContext, so whatever a callback does not free goes with
 * the transaction; the lists themselves must be reset to NIL by each
 * owner's transaction callback.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/resowner.h"
#include "utils/memutils.h"

#include "1_value/subxact_items.h"

/*
 * Appends to *items a zeroed item of 'size' bytes for the current
 * (sub)transaction and returns it for the caller to fill in.
 */
void *
subxact_item_append(List **items, Size size)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	SubxactItem *item;

	Assert(size >= sizeof(SubxactItem));
	item = palloc0(size);
	item->nest_level = GetCurrentTransactionNestLevel();
	*items = lappend(*items, item);
	MemoryContextSwitchTo(old);
	return item;
}

/* At the commit of a subtransaction: its items now belong to its parent. */
void
subxact_items_to_parent(List *items)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	foreach(lc, items)
	{
		SubxactItem *item = lfirst(lc);

		if (item->nest_level >= level)
			item->nest_level = level - 1;
	}
}

/*
 * At the abort of a subtransaction: removes its items (and its children's)
 * from *items and returns them, in the order they were added.
 */
List *
subxact_items_take_aborted(List **items)
{
	int			level = GetCurrentTransactionNestLevel();
	List	   *aborted = NIL;
	ListCell   *lc;

	foreach(lc, *items)
	{
		SubxactItem *item = lfirst(lc);

		if (item->nest_level >= level)
		{
			aborted = lappend(aborted, item);
			*items = foreach_delete_current(*items, lc);
		}
	}
	return aborted;
}

/*
 * Runs body(arg) in a subtransaction of its own.  Returns NULL once it
 * committed; otherwise the subtransaction is rolled back and its error is
 * returned, copied into the caller's memory context, for the caller to
 * log, record or throw again.
 */
ErrorData *
subxact_run(void (*body) (void *), void *arg)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *error = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller);
	PG_TRY();
	{
		body(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller);
		error = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
	CurrentResourceOwner = owner;
	return error;
}

/*
 * Intrusive singly-headed, doubly-linked lists (as Linux's hlist): a head is
 * one pointer, a node removes itself in O(1) without knowing its list.
 */
#ifndef KEEL_LIST_H
#define KEEL_LIST_H

#include <stddef.h>

struct hnode {
	struct hnode *next, **pprev;
};

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))
#define hnode_entry(p, type, member) ((p) ? container_of(p, type, member) : (type *)0)

static inline void hnode_add(struct hnode **head, struct hnode *n)
{
	n->next = *head;
	if (n->next)
		n->next->pprev = &n->next;
	*head = n;
	n->pprev = head;
}

static inline void hnode_del(struct hnode *n)
{
	*n->pprev = n->next;
	if (n->next)
		n->next->pprev = n->pprev;
	n->next = 0;
	n->pprev = 0;
}

static inline int hnode_linked(const struct hnode *n) { return n->pprev != 0; }

#endif

/* Small string helpers shared by every layer. */
#ifndef CVM_BASE_STR_H
#define CVM_BASE_STR_H

/* A malloc'd copy of s; NULL when s is NULL or memory runs out. */
char *cvm_strdup(const char *s);

#endif

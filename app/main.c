#include <stdio.h>
int main(void) { puts("lorascope"); return 0; }

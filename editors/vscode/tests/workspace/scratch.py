kb_ns.dy
len([1, 2])
print("line ran", 6 * 7)
import os; os._exit(3)

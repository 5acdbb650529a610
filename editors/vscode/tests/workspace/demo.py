# %% Hello
import types

print("hello from kernelbridge")
kb_ns = types.SimpleNamespace()
setattr(kb_ns, "dyn" + "_attr", 1)  # an attribute no document names

# %% Rich output
from IPython.display import HTML, Markdown, display

print("\x1b[31mred\x1b[0m and \x1b[1;32mbold green\x1b[0m")
display(HTML('<b>bold html</b> <script>document.title = "pwned"</script>'
             '<a href="#" onclick="document.title = \'pwned\'">a link</a>'))
display(Markdown("## A markdown heading\n\n*emphasis*, `code` and a list:\n\n- one\n- two"))

# %% Figure
import matplotlib.pyplot as plt
from IPython.display import SVG

fig, ax = plt.subplots(figsize=(5, 2.6))
ax.plot([0, 1, 2, 3, 4], [0, 1, 4, 9, 16], marker="o")
ax.set_title("drawn by the kernel, shown in the webview")
plt.show()
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" width="160" height="40">'
            '<rect width="160" height="40" rx="6" fill="#2a7"/>'
            '<text x="12" y="26" fill="white" font-family="sans-serif">an SVG image</text></svg>'))

# %% Error
1 / 0

# %% Input
import getpass

name = input("name: ")
secret = getpass.getpass("password: ")
print(f"hello {name}, your secret has {len(secret)} characters")

# %% Busy loop
while True:
    pass

# %% Stream
import time

for i in range(3):
    print(f"tick {i}", flush=True)
    time.sleep(0.6)
for i in range(1, 4):
    print(f"\rprogress {i}/3", end="", flush=True)
    time.sleep(0.1)
print(" done")

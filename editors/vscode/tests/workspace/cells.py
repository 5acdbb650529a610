a = 20

# %%
print("all cells", a + 22)

def console_main():
    print("pt")
    return 0

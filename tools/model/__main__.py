from tools.model.training import main

main()

from dictamesh.cli.main import main

main()

from socbal.cli import main

main()

      *****************************************************************
      * ACCOUNTS master file: fixed-length 64-byte records, EBCDIC.
      * One record per current account (account_id = owner client_id).
      *****************************************************************
       01  ACCOUNT-RECORD.
           05  ACCOUNT-ID              PIC 9(10).
           05  BRANCH-ID               PIC 9(5).
           05  FREQUENCY               PIC X(20).
           05  CREATION-DATE           PIC 9(8).
           05  OPENING-BALANCE         PIC S9(11)V99 COMP-3.
           05  OVERDRAFT-LIMIT         PIC S9(7)V99.
           05  ACCOUNT-STATUS          PIC X(1).
           05  FILLER                  PIC X(4).

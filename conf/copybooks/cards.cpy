      *****************************************************************
      * CARDS issued on a disposition. Fixed-length 64-byte records,
      * EBCDIC; CARD-INDEX is the card's number within its holder
      * (the `Card` column of the TabFormer card feed).
      *****************************************************************
       01  CARD-RECORD.
           05  CARD-ID                 PIC 9(10).
           05  DISP-ID                 PIC 9(10).
           05  CARD-TYPE               PIC X(10).
           05  CARD-NUMBER             PIC X(16).
           05  ISSUED-DATE             PIC 9(8).
           05  CARD-INDEX              PIC S9(4) COMP.
           05  CREDIT-LIMIT            PIC S9(9)V99 COMP-3.
           05  FILLER                  PIC X(2).

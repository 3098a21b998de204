
ê

echo.protorampdeck.demo"3
EchoRequest
text (	Rtext
seq (Rseq"K
	EchoReply
text (	Rtext
seq (Rseq
backend (	Rbackend2C
Echo;
Say.rampdeck.demo.EchoRequest.rampdeck.demo.EchoReplybproto3
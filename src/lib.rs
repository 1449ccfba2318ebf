pub mod likeset;
